/** gm as a library: the same pieces the CLI is built from. */
export { Directory } from "./directory/directory.js";
export { GroupServer, type GroupServerOptions } from "./group/group-server.js";
export { EventPublisher } from "./net/publisher.js";
export { RpcClient } from "./net/rpc-client.js";
export { RpcServer } from "./net/rpc-server.js";
export { EventStream } from "./net/subscriber.js";
export * from "./protocol/index.js";
export { MemoryGroupStore, memoryStores } from "./store/memory.js";
export { SqliteGroupStore, sqliteStores } from "./store/sqlite.js";
export type { GroupStore, StoreFactory } from "./store/types.js";
export { GmClient } from "./user/client.js";
export { Profile } from "./user/profile.js";
