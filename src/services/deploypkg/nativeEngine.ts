/**
 * The native engine (beyond the reference): applies cust.cfg itself, so a
 * guest without Perl, a distribution VMware's scripts do not know, or a
 * container customizing its host (target root /host) can still be
 * customized. Everything is written under the target root (rootfs.ts).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ProcessResult } from './command';
import { CustConfig, CustCfgError, parseCustCfg } from './custcfg';
import type { DeployLog } from './deployLog';
import {
  detectBackend, ifcfgFiles, ifupdownFiles, NetFile, networkdFiles, networkManagerFiles, NicBinding, resolvConf,
} from './netconf';
import type { TargetRoot } from './rootfs';
import { randomSalt, sha512Crypt, uidZeroUsers, updateShadow } from './shadow';
import { Code } from './states';

export interface NativeInput {
  imcDir: string;
  target: TargetRoot;
  interfaces: () => Array<{ name: string; mac: string }>;
  log: DeployLog;
  enableCustomScripts: boolean | undefined;
  runScript: (argv: string[]) => Promise<ProcessResult>;
}

export type NativeResult = { ok: true; written: string[] } | { ok: false; code: Code; message: string; detail?: string };

/** Where cloud-init puts the user script (§5.1); we use the same place. */
const SCRIPT_PATH = '/root/.customization/customize.sh';

export async function applyNative(i: NativeInput): Promise<NativeResult> {
  const t = i.target;
  const written: string[] = [];
  const write = (p: string, content: string, mode = 0o644): void => {
    t.write(p, content, mode);
    written.push(p);
    i.log.info(`wrote ${p}`);
  };
  let c: CustConfig;
  try {
    c = parseCustCfg(fs.readFileSync(path.join(i.imcDir, 'cust.cfg'), 'utf8'));
  } catch (e) {
    const why = e instanceof CustCfgError ? e.message : `cannot read cust.cfg: ${e instanceof Error ? e.message : String(e)}`;
    return { ok: false, code: Code.EVENT_CUSTOMIZE_FAILED, message: `cust.cfg: ${why}`, detail: `cust.cfg: ${why}` };
  }

  // §5.1: the user script only when tools.conf (or the package's default) allows it.
  let script: string | undefined;
  if (c.scriptName) {
    const allowed = i.enableCustomScripts ?? c.defaultRunPostScript;
    if (!allowed) {
      i.log.error('the package has a customization script but custom scripts are disabled ([deployPkg] enable-custom-scripts)');
      return { ok: false, code: Code.CUST_SCRIPT_DISABLED, message: 'custom scripts are disabled' };
    }
    const src = path.join(i.imcDir, c.scriptName);
    if (!fs.existsSync(src)) return { ok: false, code: Code.EVENT_CUSTOMIZE_FAILED, message: `script ${c.scriptName} missing from the package` };
    write(SCRIPT_PATH, fs.readFileSync(src, 'utf8').replace(/\r/g, ''), 0o544);
    script = SCRIPT_PATH;
    const r = await i.runScript(['/bin/sh', script, 'precustomization']);
    i.log.raw(r.stdout + r.stderr);
    if (r.code !== 0) return { ok: false, code: Code.EVENT_CUSTOMIZE_FAILED, message: `precustomization script failed with ${r.code}` };
  }

  try {
    // Host name and /etc/hosts.
    if (c.hostname) {
      const short = c.hostname.split('.')[0];
      const fqdn = c.hostname.includes('.') ? c.hostname : c.domain ? `${c.hostname}.${c.domain}` : c.hostname;
      write('/etc/hostname', `${short}\n`);
      const hosts = (t.read('/etc/hosts') ?? '127.0.0.1\tlocalhost\n').split('\n').filter((l) => !/^\s*127\.0\.1\.1\s/.test(l));
      while (hosts.length && hosts[hosts.length - 1] === '') hosts.pop();
      const at = hosts.findIndex((l) => /^\s*127\.0\.0\.1\s/.test(l));
      hosts.splice(at + 1, 0, fqdn === short ? `127.0.1.1\t${short}` : `127.0.1.1\t${fqdn} ${short}`);
      write('/etc/hosts', `${hosts.join('\n')}\n`);
    }

    // Networking.
    if (c.nics.length) {
      const backend = detectBackend(t);
      if (!backend) return { ok: false, code: Code.EVENT_NETWORK_SETUP_FAILED, message: 'no supported network configuration system found in the target' };
      i.log.info(`network configuration: ${backend}`);
      const known = i.interfaces();
      const bindings: NicBinding[] = c.nics.map((nic, k) => {
        const hit = known.find((x) => x.mac.toLowerCase() === nic.mac);
        if (!hit) i.log.warn(`no interface has MAC ${nic.mac} (${nic.name}); using eth${k}`);
        return { nic, device: hit?.name ?? `eth${k}` };
      });
      let files: NetFile[];
      switch (backend) {
        case 'networkmanager':
          files = networkManagerFiles(c, bindings);
          break;
        case 'networkd':
          files = networkdFiles(c, bindings);
          break;
        case 'ifcfg':
          files = ifcfgFiles(c, bindings);
          break;
        default:
          files = ifupdownFiles(c, bindings, t.read('/etc/network/interfaces'));
      }
      for (const f of files) write(f.path, f.content, f.mode);
    }
    if (c.nameservers.length || c.searchDomains.length) {
      // A symlink (systemd-resolved, NetworkManager) means a resolver owns the file: leave it.
      const real = t.resolve('/etc/resolv.conf', false);
      let isLink = false;
      try {
        isLink = fs.lstatSync(real).isSymbolicLink();
      } catch {
        /* absent: write it */
      }
      if (!isLink) write('/etc/resolv.conf', resolvConf(c));
      else i.log.info('/etc/resolv.conf is a symlink (a resolver manages it); DNS goes into the network configuration only');
    }

    // Time zone: replace the /etc/localtime symlink itself, resolved inside the target root.
    if (c.timezone) {
      const zone = `/usr/share/zoneinfo/${c.timezone}`;
      if (!t.exists(zone)) return { ok: false, code: Code.EVENT_CUSTOMIZE_FAILED, message: `unknown time zone ${c.timezone}` };
      t.symlink('/etc/localtime', `../usr/share/zoneinfo/${c.timezone}`);
      written.push('/etc/localtime');
      i.log.info(`/etc/localtime -> ${zone}`);
      if (t.exists('/etc/timezone')) write('/etc/timezone', `${c.timezone}\n`);
      const clock = t.read('/etc/sysconfig/clock');
      if (clock !== undefined) write('/etc/sysconfig/clock', `${clock.split('\n').filter((l) => l && !/^ZONE=/.test(l)).concat(`ZONE="${c.timezone}"`).join('\n')}\n`);
    }
    if (c.utc !== undefined) {
      const adj = t.read('/etc/adjtime');
      const lines = adj ? adj.split('\n') : ['0.0 0 0.0', '0'];
      while (lines.length < 3) lines.push('');
      lines[2] = c.utc ? 'UTC' : 'LOCAL';
      write('/etc/adjtime', `${lines.slice(0, 3).join('\n')}\n`);
    }

    // Root password (never logged) and expiry.
    if (c.rootPassword !== undefined || c.resetPassword) {
      const shadow = t.read('/etc/shadow');
      if (shadow === undefined) return { ok: false, code: Code.EVENT_CUSTOMIZE_FAILED, message: 'no /etc/shadow in the target' };
      const next = updateShadow(shadow, {
        hash: c.rootPassword !== undefined ? sha512Crypt(c.rootPassword, randomSalt()) : undefined,
        expire: c.resetPassword,
        uidZero: uidZeroUsers(t.read('/etc/passwd') ?? ''),
      });
      t.write('/etc/shadow', next, 0o640);
      written.push('/etc/shadow');
      i.log.info(`updated /etc/shadow (${c.rootPassword !== undefined ? 'root password' : ''}${c.resetPassword ? ' expiry' : ''})`);
    }
  } catch (e) {
    return { ok: false, code: Code.EVENT_CUSTOMIZE_FAILED, message: e instanceof Error ? e.message : String(e) };
  }

  if (script) {
    const r = await i.runScript(['/bin/sh', script, 'postcustomization']);
    i.log.raw(r.stdout + r.stderr);
    if (r.code !== 0) return { ok: false, code: Code.EVENT_CUSTOMIZE_FAILED, message: `postcustomization script failed with ${r.code}` };
  }
  return { ok: true, written };
}
