// `node --require fable-io/register app.js`: the CommonJS entry of transparent mode
// (dist/src/compat/transparent.js). It loads the ES module synchronously, which needs a Node
// that can require() an ES module (20.19 or later); older ones are told to use --import.
"use strict";
try {
  require("./dist/src/compat/register.js");
} catch (err) {
  if (err && (err.code === "ERR_REQUIRE_ESM" || err.code === "ERR_REQUIRE_ASYNC_MODULE")) {
    process.stderr.write(
      `fable: transparent mode is off: this Node (${process.version}) cannot --require an ES module; ` +
        "use node --import fable-io/register\n",
    );
  } else {
    throw err;
  }
}
