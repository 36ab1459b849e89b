// Database URLs in messages: never with their password, whether in the user info
// (`postgres://u:pw@host/db`) or in the query string (`?password=…`, which node-pg honours, and
// `?sslpassword=`). The one redaction of URLs that are shown (lib/url-safety.ts): status, the status
// page, config check, errors and the mirror lock all go through it.
import { redactUrl } from '../lib/url-safety.js';

/** The URL with its password masked, for logs and messages. */
export function redactDatabaseUrl(url: string): string {
  return redactUrl(url);
}
