/**
 * The report renderer's public entry point: the HTML report, each chart as SVG, and PNG rendering.
 * The results site calls these; the modules behind them are internal.
 */
export {
  chartFileName,
  type NamedChart,
  renderCharts,
  renderComparisonCharts,
  renderReport,
  type ReportOptions,
} from "./render.js";
export { PNG_SIGNATURE, PngRenderError, svgToPng } from "./png.js";
export { escapeHtml } from "./html.js";
/** The letter (A, B, ...) that names the i-th result of a comparison, as the report labels it. */
export { resultLetter } from "./compare.js";
