/**
 * What the Graph modules share for one mailbox: the HTTP door, the settings, and the URLs and
 * folder ids every operation builds on.
 */
import { envelopeSelect, sizeExpand } from "./envelope.js";
import type { GraphHttp } from "./http.js";
import type { ResolvedGraphSettings } from "./settings.js";

/** What the Graph modules share for one mailbox. */
export interface GraphContext {
  http: GraphHttp;
  settings: ResolvedGraphSettings;
  /** `Prefer` of delta calls: page size and immutable ids (query options live in the links). */
  deltaPrefer: Record<string, string>;
  /** `$select` of a listing: the envelope fields plus the threading headers. */
  listSelect: string;
  /** The first delta URL of a folder. */
  deltaUrl(folder: string): string;
  /** One message: its envelope with headers, or only where it lives. */
  messageUrl(id: string, fields: "headers" | "location"): string;
  /** Graph folder id -> configured folder name of the synced folders, resolved once. */
  folderIds(signal?: AbortSignal): Promise<Map<string, string>>;
}

/** Builds the context of one provider. */
export function createGraphContext(http: GraphHttp, settings: ResolvedGraphSettings): GraphContext {
  const { userPath } = settings;
  // In-Reply-To and References exist only as internet headers; threading (H1) needs them for every envelope.
  const listSelect = `${envelopeSelect.join(",")},internetMessageHeaders`;
  let folderIds: Promise<Map<string, string>> | undefined;
  return {
    http,
    settings,
    deltaPrefer: { Prefer: `odata.maxpagesize=${settings.pageSize}, IdType="ImmutableId"` },
    listSelect,
    deltaUrl: (folder) =>
      `${userPath}/mailFolders/${encodeURIComponent(folder)}/messages/delta?$select=${listSelect}&$expand=${sizeExpand}`,
    messageUrl: (id, fields) =>
      fields === "location"
        ? `${userPath}/messages/${encodeURIComponent(id)}?$select=id,parentFolderId`
        : `${userPath}/messages/${encodeURIComponent(id)}?$select=${listSelect}&$expand=${sizeExpand}`,
    folderIds(signal) {
      folderIds ??= (async () => {
        const map = new Map<string, string>();
        for (const folder of settings.folders) {
          const { body } = await http.send<{ id: string }>({
            method: "GET",
            url: `${userPath}/mailFolders/${encodeURIComponent(folder)}?$select=id,displayName`,
            signal,
          });
          map.set(body.id, folder);
        }
        return map;
      })();
      folderIds.catch(() => {
        folderIds = undefined;
      });
      return folderIds;
    },
  };
}
