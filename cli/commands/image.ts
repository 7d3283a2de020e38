/** `box image <sub>`: docker's management-command spellings of the image verbs. */
import { commandGroup } from "../group.ts";

const images = (): Promise<import("./index.ts").Command> => import("./images.ts").then((m) => m.default);

export default commandGroup("image", "Manage images", {
  build: ["Build an image from a Dockerfile", () => import("./build.ts").then((m) => m.default)],
  ls: ["List images", images],
  list: ["List images", images],
  inspect: ["Display detailed information on one or more images", () => import("./image-inspect.ts").then((m) => m.default)],
  rm: ["Remove one or more images", () => import("./rmi.ts").then((m) => m.default)],
  prune: ["Remove unused images", () => import("./image-prune.ts").then((m) => m.default)],
  pull: ["Download an image from a registry", () => import("./pull.ts").then((m) => m.default)],
  push: ["Upload an image to a registry", () => import("./push.ts").then((m) => m.default)],
  tag: ["Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE", () => import("./tag.ts").then((m) => m.default)],
  history: ["Show the history of an image", () => import("./history.ts").then((m) => m.default)],
  save: ["Save one or more images to a tar archive", () => import("./save.ts").then((m) => m.default)],
  load: ["Load an image from a tar archive or STDIN", () => import("./load.ts").then((m) => m.default)],
  import: ["Import the contents from a tarball to create a filesystem image", () => import("./import.ts").then((m) => m.default)],
}, ["list"]);
