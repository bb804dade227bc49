/**
 * The start-up fast path of vmtoolsd's command line (src/cli/quickArgs.ts):
 * whatever it parses, yargs parses to the same values; everything else is
 * left to yargs (help, version, errors, the unusual forms).
 */
import assert from 'node:assert/strict';
import { quickParse } from '../src/cli/quickArgs';
import { OPTIONS, parseMainArgs, parseWithYargs } from '../src/cli/vmtoolsd';
import { DEFAULT_TOOLS_CONF_PATH } from '../src/config';

const OPTS = Object.values(OPTIONS);

function pick(a: object): Record<string, unknown> {
  const r = a as Record<string, unknown>;
  const out: Record<string, unknown> = { name: r.name, config: r.config };
  if (r.cmd !== undefined) out.cmd = r.cmd;
  if (r['log-level'] !== undefined) out['log-level'] = r['log-level'];
  return out;
}

describe('88 vmtoolsd command line: fast path and yargs agree', () => {
  const handled: string[][] = [
    [],
    ['-n', 'vmsvc'],
    ['-n', 'vmsvc', '-c', '/etc/vmware-tools/tools.conf'],
    ['--name', 'vmusr'],
    ['--name=vmsvc', '--config=/tmp/x y.conf'],
    ['-c', '/tmp/a=b.conf'],
    ['--cmd', 'info-get guestinfo.ovfEnv'],
    ['--cmd=info-set guestinfo.a b=c'],
    ['--log-level', 'debug', '-n', 'vmsvc'],
    ['-p', '/usr/lib/open-vm-tools/plugins/vmsvc', '-n', 'vmsvc'],
    ['--plugin-path', '/x'],
  ];
  for (const argv of handled) {
    it(`[${argv.join(' ')}]: parsed by the fast path, as yargs parses it`, async () => {
      const quick = quickParse(argv, OPTS);
      assert.ok(quick, 'handled by the fast path');
      const fast = await parseMainArgs(argv);
      assert.deepEqual(pick(fast), pick(await parseWithYargs(argv)));
    });
  }

  it('defaults: vmsvc and the standard tools.conf', async () => {
    assert.deepEqual(await parseMainArgs([]), { name: 'vmsvc', config: DEFAULT_TOOLS_CONF_PATH });
  });

  const leftToYargs: string[][] = [
    ['--help'], ['-h'], ['--version'], ['-v'],
    ['--bogus'], ['-x'], ['extra'], ['--', '-n'],
    ['-n'], ['-c'], ['--cmd='], ['-c', '-n'], ['--cmd', '-5'],
    ['-n', 'a', '-n', 'b'], ['--name', 'a', '-n', 'b'],
    ['--log-level', 'loud'], ['--logLevel', 'debug'], ['--no-name'],
    ['-nvmsvc'], ['--common-path', '/x'],
  ];
  for (const argv of leftToYargs) {
    it(`[${argv.join(' ')}]: left to yargs`, () => {
      assert.equal(quickParse(argv, OPTS), undefined);
    });
  }
});
