/** Container ids and the readable names docker gives containers that were not named. */

const ADJECTIVES = [
  "agile", "bold", "brave", "calm", "clever", "cosmic", "crisp", "eager", "fancy", "gentle", "happy", "jolly",
  "keen", "lively", "lucid", "merry", "nimble", "proud", "quiet", "rapid", "serene", "sharp", "stoic", "swift",
  "tender", "upbeat", "vivid", "witty", "zealous", "zen",
];
const NOUNS = [
  "babbage", "bohr", "curie", "darwin", "dijkstra", "einstein", "euler", "fermat", "feynman", "gauss", "hopper",
  "hypatia", "kepler", "knuth", "lamarr", "lovelace", "meitner", "newton", "noether", "pascal", "planck",
  "ritchie", "shannon", "tesla", "thompson", "torvalds", "turing", "wozniak", "yalow", "zuse",
];

export function newContainerId(): string {
  return Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("hex");
}

export function randomName(): string {
  const r = crypto.getRandomValues(new Uint32Array(2));
  return `${ADJECTIVES[(r[0] as number) % ADJECTIVES.length]}_${NOUNS[(r[1] as number) % NOUNS.length]}`;
}

const NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

export function isValidName(name: string): boolean {
  return NAME.test(name) && name.length <= 128;
}
