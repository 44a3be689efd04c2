/** The net conformance suite in transparent mode across versions: native expected, fable handed (see net-transparent-suite.ts). */
import { transparentConformance } from "./net-transparent-suite.js";

transparentConformance("mixed");
