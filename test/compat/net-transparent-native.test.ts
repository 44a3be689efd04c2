/** The net conformance suite in transparent mode, native unix sockets (see net-transparent-suite.ts). */
import { transparentConformance } from "./net-transparent-suite.js";

transparentConformance("native");
