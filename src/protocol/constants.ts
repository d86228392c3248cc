/**
 * Wire constants of the gm protocol (docs/PROTOCOL.md). Pure data: no I/O.
 */

/** First word of every request and reply: protocol name and major version. */
export const SIGNATURE = "GM/2";

/** Request commands understood by the directory (`gm server`). */
export const DirectoryCommand = {
  Register: "REGISTER",
  Unregister: "UNREGISTER",
  List: "LIST",
  Ping: "PING",
} as const;

/** Request commands understood by a group server (`gm group`). */
export const GroupCommand = {
  Join: "JOIN",
  Leave: "LEAVE",
  Send: "SEND",
  History: "HISTORY",
  Search: "SEARCH",
  Info: "INFO",
  Subscribe: "SUBSCRIBE",
  Members: "MEMBERS",
  Remove: "REMOVE",
  Unbar: "UNBAR",
  Invite: "INVITE",
  Settings: "SETTINGS",
  Ping: "PING",
} as const;

/** The kind of an event (second word of its header) published on a group server's events (XPUB) socket. */
export const EventKind = {
  /** A message stored in a group, published on the group's topic. */
  Message: "MESSAGE",
  /**
   * A member left the group (body `{"user": uuid}`, with `"removed": true` when the owner removed
   * them), published on the group's topic.
   */
  Left: "LEFT",
  /** The answer to a subscription to a hello topic: every earlier subscription is now active. */
  Hello: "HELLO",
} as const;

/** Topics on the events socket: the first word of every event's header, what SUB sockets match. */
export const Topic = {
  /**
   * A group's topic is this letter and 36 random base64url characters (Topic.secretBytes random
   * bytes): secret, given only to members, replaced whenever a member leaves. All have the same
   * length, so no topic is a prefix of another.
   */
  groupPrefix: "M",
  groupLength: 37,
  secretBytes: 27,
  /** Hello topics are this letter and 1 to 63 more bytes of the subscriber's choosing (no space, no LF). */
  helloPrefix: "H",
  helloMinBytes: 2,
  helloMaxBytes: 64,
  /** No topic a gm client subscribes to, group or hello, is longer than this. */
  maxBytes: 64,
  /**
   * The longest topic a subscription may carry. The events socket takes subscriptions of at most
   * Limits.subscriptionBytes on the wire and drops the connection of a peer that sends a longer
   * one; libzmq 4.3 sends a subscription as a ZMTP 3.1 SUBSCRIBE command, 10 bytes before the
   * topic (a ZMTP 3.0 peer sends 1 byte before it), so 246 bytes of topic pass from either.
   */
  subscriptionMaxBytes: 246,
} as const;

/**
 * Reply status, modelled on ZAP: the first digit says whether a retry can help.
 * 200 success; 300 temporary failure (retry later); 400 the request is wrong (do not retry);
 * 500 the server failed (retrying the same request may fail the same way).
 */
export const Status = {
  Ok: "200",
  TryAgain: "300",
  BadRequest: "400",
  ServerError: "500",
} as const;
export type StatusCode = (typeof Status)[keyof typeof Status];

/** Machine-readable error codes carried in error replies. */
export const ErrorCode = {
  BadSignature: "BAD_SIGNATURE",
  UnsupportedVersion: "UNSUPPORTED_VERSION",
  BadFrames: "BAD_FRAMES",
  BadJson: "BAD_JSON",
  TooLarge: "TOO_LARGE",
  UnknownCommand: "UNKNOWN_COMMAND",
  BadRequest: "BAD_REQUEST",
  UnknownGroup: "UNKNOWN_GROUP",
  NotMember: "NOT_MEMBER",
  NameTaken: "NAME_TAKEN",
  TooManyGroups: "TOO_MANY_GROUPS",
  AuthRequired: "AUTH_REQUIRED",
  BadProof: "BAD_PROOF",
  Forbidden: "FORBIDDEN",
  EmptyMessage: "EMPTY_MESSAGE",
  MessageTooLarge: "MESSAGE_TOO_LARGE",
  ShuttingDown: "SHUTTING_DOWN",
  StorageFull: "STORAGE_FULL",
  Busy: "BUSY",
  Internal: "INTERNAL",
} as const;
export type ErrorCodeName = (typeof ErrorCode)[keyof typeof ErrorCode];

/** Size limits, in bytes unless named otherwise. */
export const Limits = {
  /** Largest message text, counted in UTF-8 bytes. */
  textBytes: 64 * 1024,
  /**
   * Largest message text once written as a JSON string, without its quotes: a control character
   * takes 6 bytes there (`\u0001`), a quote, backslash, tab or line feed 2. Without it a 64 KiB
   * text of control characters would be ~393 KB in every reply and event that carries it; with
   * it, every message fits in a history page and a peer's queue is bounded in bytes.
   */
  textJsonBytes: 96 * 1024,
  /**
   * Largest JSON body frame a server decodes; larger ones get TOO_LARGE. Room for a text at the
   * limit even when JSON escapes every byte of it (a control character becomes 6 bytes).
   */
  bodyBytes: 512 * 1024,
  /**
   * Deepest nesting of arrays and objects a body may have (the body object itself is depth 1).
   * Checked by a byte scan before JSON.parse, which would otherwise spend tens of ms of the event
   * loop building a 100,000-deep value nobody reads; no gm body is deeper than 3.
   */
  jsonDepth: 32,
  /** Largest subscription the events socket accepts, as it crosses the wire (Topic.subscriptionMaxBytes). */
  subscriptionBytes: 256,
  /**
   * The same limit on a CURVE events socket, where it also applies to the handshake: a SUB
   * socket's INITIATE command is 260 bytes (241 and its metadata; a routing id adds up to 268
   * more), and every later message crosses it inside a CURVE box, 33 bytes larger.
   */
  secureSubscriptionBytes: 600,
  /** Largest single frame the socket accepts at all; a larger one drops the connection. */
  frameBytes: 1024 * 1024,
  /** Request ids are 1 to 64 bytes. */
  requestIdBytes: 64,
  /** Group names: letters, digits, '.', '_' and '-', starting with a letter or digit. */
  groupName: /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/,
  /** Display names are 1 to 64 characters. */
  displayNameChars: 64,
  /** Live registrations a directory holds in all (REGISTER of one more name: TOO_MANY_GROUPS). */
  directoryGroups: 10_000,
  /** Live registrations from one group server key on a secure directory. */
  directoryGroupsPerKey: 1_000,
  /** Name bindings (PROTOCOL.md §12.6) a secure directory holds that have not lapsed. */
  directoryNameBindings: 100_000,
  /** Default and largest page of history. */
  historyPage: 100,
  historyPageMax: 1000,
  /**
   * Most bytes of JSON a HISTORY reply's `messages` array holds: a page ends early (with `more`)
   * before the message that would pass it. Room for one message at both text limits and its
   * other fields, so every page holds at least one message (one stored before textJsonBytes
   * existed may be larger: it then has a page to itself).
   */
  historyBytes: 128 * 1024,
  /** Longest SEARCH query, in characters (code points). */
  searchQueryChars: 256,
  /** Most words a SEARCH query may have (each one more index to walk in step). */
  searchWords: 16,
  /** Default and largest page of a MEMBERS reply. */
  membersPage: 100,
  membersPageMax: 1000,
  /**
   * Most bytes of JSON a MEMBERS reply's `members` array holds: a page ends early (with `more`)
   * before the entry that would pass it, and always holds at least one. An entry is at most
   * ~400 bytes (a display name is 64 characters), so a full page of 1000 could be ~400 KB.
   */
  membersBytes: 64 * 1024,
} as const;
