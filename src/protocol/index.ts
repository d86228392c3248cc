export * from "./codec.js";
export * from "./constants.js";
export * from "./errors.js";
export * from "./timing.js";
export type * from "./types.js";
