// Builds the web vault page into dist/: the app and the download worker bundled by esbuild
// (with the SDK from ../clients/js/src and its dependencies), the HTML, CSS and icon copied.
// The output is deterministic, so that scripts/check-web can prove the committed dist/ is
// what these sources build to.
import { build } from "esbuild";
import { copyFile, mkdir, rm } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import path from "node:path";

const here = path.dirname(fileURLToPath(import.meta.url));
const dist = path.join(here, "dist");
await rm(dist, { recursive: true, force: true });
await mkdir(dist, { recursive: true });

const common = {
  bundle: true,
  minify: true,
  legalComments: "none",
  target: ["chrome115", "firefox115", "safari16"],
  alias: { "@blindvault/client": path.join(here, "../clients/js/src/index.ts") },
  logLevel: "warning",
};
await build({ ...common, entryPoints: [path.join(here, "src/app.ts")], outfile: path.join(dist, "app.js"), format: "esm" });
await build({ ...common, entryPoints: [path.join(here, "src/sw.ts")], outfile: path.join(dist, "sw.js"), format: "iife" });
for (const file of ["index.html", "app.css", "icon.svg"]) {
  await copyFile(path.join(here, "src", file), path.join(dist, file));
}
