// Files embedded by `bun build --compile` through `import x from "..." with { type: "file" }`.
declare module "*box-shim" {
  const path: string;
  export default path;
}
declare module "*.tar.gz" {
  const path: string;
  export default path;
}
