/** The part of hoodiecrow-imap (which ships no types) the demo mail server uses. */
declare module "hoodiecrow-imap" {
  import type { Server } from "node:net";
  interface HoodiecrowFolder {
    messages: unknown[];
  }
  interface HoodiecrowServer {
    server: Server;
    listen(port: number, host: string, callback?: () => void): void;
    close(callback?: () => void): void;
    getMailbox(path: string): HoodiecrowFolder;
    appendMessage(folder: HoodiecrowFolder, flags: string[], internaldate: Date | string, raw: string): void;
  }
  function hoodiecrow(options: Record<string, unknown>): HoodiecrowServer;
  export default hoodiecrow;
}
