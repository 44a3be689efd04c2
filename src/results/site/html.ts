/**
 * HTML for the results site, safe by construction: every value interpolated into the `h` template tag is
 * escaped unless it is {@link Html} made by this module (by `h` itself, `joinHtml`, or `trustedHtml` for
 * markup this program wrote, such as the report renderer's documents). Result files come from strangers;
 * the validator keeps markup out of them, and this keeps it out of the pages even if one slipped through.
 *
 * Pages carry a Content-Security-Policy that allows no script and no network at all.
 */
// One safe-by-construction template tag serves the report and the site alike.
import { join, markup, Markup, trusted, type Interpolation } from "../report/html.js";

export { Markup as Html };
export type Value = Interpolation;
export const h = markup;
export const joinHtml = join;
export const trustedHtml = trusted;

export const CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:";

export const SITE_CSS = `
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1d2330; margin: 0; background: #fafbfc; }
main { max-width: 1280px; margin: 0 auto; padding: 8px 24px 48px; }
h1 { font-size: 22px; margin: 18px 0 4px; } h2 { font-size: 18px; margin: 28px 0 8px; } h3 { font-size: 15px; margin: 18px 0 6px; }
p.lead { color: #4a5568; margin: 0 0 16px; max-width: 900px; }
table { border-collapse: collapse; background: #fff; margin: 6px 0 14px; }
th, td { border: 1px solid #e2e6ea; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #f1f3f6; font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
a { color: #1f5fbf; text-decoration: none; } a:hover { text-decoration: underline; }
.tag { display: inline-block; font-size: 11px; padding: 0 5px; border-radius: 3px; background: #e8edf5; color: #34495e; margin-left: 4px; }
.tag.legacy { background: #f6ead3; color: #7a5212; } .tag.vm { background: #e3f1e6; color: #245c32; }
.muted { color: #6b7280; } .small { font-size: 12px; }
.grid { display: flex; flex-wrap: wrap; gap: 18px; align-items: flex-start; }
figure { margin: 0; background: #fff; border: 1px solid #e2e6ea; padding: 8px; }
figcaption { font-size: 12px; color: #4a5568; margin-top: 4px; max-width: 420px; }
nav.fable-site-nav { background: #1d2330; color: #dfe6f0; padding: 8px 24px; font: 14px system-ui, sans-serif; }
nav.fable-site-nav a { color: #fff; margin-right: 14px; }
`;

/** A complete page of the site: the navigation bar, a title, the body. `root` is the path to the site root. */
export function page(title: string, root: string, body: Markup): string {
  return h`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${CSP}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} · fable results</title>
<style>${trustedHtml(SITE_CSS)}</style>
</head>
<body>
${nav(root)}
<main>
${body}
</main>
</body>
</html>
`.text;
}

export function nav(root: string): Markup {
  return h`<nav class="fable-site-nav"><a href="${root}index.html">Machines</a><a href="${root}compare.html">Compare</a><a href="${root}series.html">Series</a><a href="${root}paper.html">The 2012 paper's figures</a></nav>`;
}

/** The site's CSS with every rule scoped under `.fable-site` (for pages that are another program's document). */
export function scopedCss(css: string = SITE_CSS): string {
  return css.replace(/([^{}]+)\{([^}]*)\}/g, (_, selectors: string, body: string) => {
    const scoped = selectors
      .split(",")
      .map((s) => s.trim())
      .filter((s) => s !== "" && s !== "body")
      .map((s) => (s.startsWith("nav.fable-site-nav") ? s : s === "main" ? ".fable-site" : `.fable-site ${s}`));
    return scoped.length === 0 ? "" : `${scoped.join(", ")} {${body}}\n`;
  });
}
