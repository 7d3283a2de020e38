import type { Command } from "./index.ts";

const command: Command = {
  summary: "Show the box version",
  async run() {
    const { VERSION } = await import("../version.ts");
    process.stdout.write(`box version ${VERSION}\nbun ${Bun.version}\nos/arch linux/${process.arch === "x64" ? "amd64" : process.arch}\n`);
    return 0;
  },
};
export default command;
