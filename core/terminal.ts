/** Whether an fd is a terminal: the CLI asks before it draws progress or allows `-it`. */
export { isatty } from "../ffi/syscalls.ts";
