/** The net conformance suite in transparent mode, emulated sockets (see net-transparent-suite.ts). */
import { transparentConformance } from "./net-transparent-suite.js";

transparentConformance("emulated");
