import type { Command } from "./index.ts";
import { out } from "../render/output.ts";

const command: Command = {
  summary: "Show the box version",
  async run() {
    const { VERSION } = await import("../version.ts");
    out(`box version ${VERSION}\nbun ${Bun.version}\nos/arch linux/${process.arch === "x64" ? "amd64" : process.arch}\n`);
    return 0;
  },
};
export default command;
