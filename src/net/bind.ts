import type { Socket } from "zeromq";
import { bindError } from "./endpoint.js";

/**
 * Binds a server socket; resolves with the bound endpoint (the real port for `:*` or `:0`). On
 * failure the socket is closed and the error names the address and the cause.
 */
export async function bindSocket(socket: Socket, endpoint: string): Promise<string> {
  try {
    await socket.bind(endpoint.replace(/:0$/, ":*"));
  } catch (err) {
    socket.close();
    throw bindError(endpoint, err);
  }
  return socket.lastEndpoint ?? endpoint;
}
