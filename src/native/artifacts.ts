/**
 * Where the native build's outputs are: build/Release of the repository,
 * found upwards from this module (dist/src/native compiled, src/native under
 * ts-node). scripts/install.sh keeps the same layout
 * (/usr/lib/vmtoolsd-node/{dist,build/Release}), so one search serves the
 * addon and the helper executables (vmtoolsd-runas, vmtoolsd-freeze-holder).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

/** Every place build/Release/<name> may be, nearest first. */
export function buildArtifactCandidates(name: string): string[] {
  const rel = path.join('build', 'Release', name);
  const out: string[] = [];
  let dir = __dirname;
  for (let i = 0; i < 6; i++) {
    out.push(path.join(dir, rel));
    dir = path.dirname(dir);
  }
  return out;
}

/** The nearest existing build/Release/<name>, if any. */
export function findBuildArtifact(name: string): string | undefined {
  return buildArtifactCandidates(name).find((p) => fs.existsSync(p));
}
