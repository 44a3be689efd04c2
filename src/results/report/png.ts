/**
 * Charts as PNG, for sharing: SVG rendered by resvg (a renderer made for it, prebuilt in its npm package),
 * at twice the size for sharp text, on white. Text uses DejaVu Sans (the charts' first font), found among
 * the system's fonts and in Debian's DejaVu directory when it is there.
 */
import { existsSync } from "node:fs";
import { Resvg } from "@resvg/resvg-js";
import { FableError } from "../../errors.js";

export const DEJAVU_DIR = "/usr/share/fonts/truetype/dejavu";

/** The PNG signature: every PNG file starts with these eight bytes. */
export const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

export class PngRenderError extends FableError {
  constructor(message: string, options?: ErrorOptions) {
    super("EPNG", message, options);
  }
}

export function svgToPng(svg: string, zoom = 2): Buffer {
  const options = {
    background: "#ffffff",
    fitTo: { mode: "zoom", value: zoom },
    font: {
      loadSystemFonts: true,
      fontDirs: existsSync(DEJAVU_DIR) ? [DEJAVU_DIR] : [],
      defaultFontFamily: "DejaVu Sans",
      sansSerifFamily: "DejaVu Sans",
    },
    logLevel: "off",
  } as const;
  try {
    return new Resvg(svg, options).render().asPng();
  } catch (cause) {
    throw new PngRenderError(`cannot render the chart as PNG: ${(cause as Error).message}`, { cause });
  }
}
