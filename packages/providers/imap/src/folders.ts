/**
 * The synced folders as found on the server: special-use names resolved through LIST, exact
 * paths checked to exist.
 */
import { ClientMailError } from "@clientmail/core";
import type { CommandScope, ImapConnection } from "./connection.js";

/** One synced folder as found on the server. */
export interface SyncedFolder {
  path: string;
}

/**
 * The synced folders that exist on the server, in settings order, without duplicates. A
 * special-use name the server lacks is skipped; an exact path it lacks is `not_found`.
 */
export async function syncedFolders(
  connection: ImapConnection,
  scope: Omit<CommandScope, "folder">,
): Promise<SyncedFolder[]> {
  const listing = await connection.command(scope, (client) => client.list());
  const result: SyncedFolder[] = [];
  const seen = new Set<string>();
  for (const wanted of connection.config.folders) {
    let path: string | undefined;
    if (wanted.startsWith("\\")) {
      const use = wanted.toLowerCase();
      const match =
        use === "\\inbox"
          ? listing.find((entry) => entry.path.toUpperCase() === "INBOX")
          : listing.find((entry) => entry.specialUse?.toLowerCase() === use);
      path = match?.path;
    } else {
      const match = listing.find(
        (entry) =>
          entry.path === wanted || (wanted.toUpperCase() === "INBOX" && entry.path.toUpperCase() === "INBOX"),
      );
      if (!match) {
        throw new ClientMailError("not_found", `IMAP folder ${JSON.stringify(wanted)} was not found`, {
          details: { entity: "folder", id: wanted, provider: "imap", operation: scope.operation },
        });
      }
      path = match.path;
    }
    if (path !== undefined && !seen.has(path)) {
      seen.add(path);
      result.push({ path });
    }
  }
  return result;
}
