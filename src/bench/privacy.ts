/**
 * The last line of defence for free text that reaches a result (a probe's error message, a
 * string param): this machine's hostname, user name and home directory are replaced. Structured
 * fields are allow-listed by the schema; this only covers text we pass through.
 */
import { homedir, hostname, userInfo } from "node:os";

function privateWords(): [string, string][] {
  const words: [string, string][] = [];
  const home = homedir();
  if (home.length > 1) words.push([home, "~"]);
  let user = "";
  try {
    user = userInfo().username;
  } catch {
    // No passwd entry (some containers): nothing to hide.
  }
  // Short names ("a", "ci") would mangle ordinary words; they are too short to identify anyone.
  if (user.length >= 3) words.push([user, "<user>"]);
  const host = hostname();
  if (host.length >= 3) words.push([host, "<host>"]);
  return words;
}

export function scrubText(text: string): string {
  let out = text;
  for (const [word, replacement] of privateWords()) out = out.split(word).join(replacement);
  return out;
}
