/**
 * `node --import fable-io/register app.js`: transparent mode for the whole program (see
 * transparent.ts). `--require fable-io/register` loads the same module through register.cjs.
 */
import { installTransparentMode } from "./transparent.js";

installTransparentMode();
