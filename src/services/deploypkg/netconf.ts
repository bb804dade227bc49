/**
 * Network configuration files for the native engine, one writer per system
 * the target may use (customization.md §5 NIC keys): NetworkManager
 * keyfiles, systemd-networkd, ifcfg (RHEL family) and
 * /etc/network/interfaces (Debian ifupdown). Each writer is a pure function
 * from the parsed cust.cfg to file contents, so tests compare text.
 */
import * as crypto from 'node:crypto';
import { CustConfig, ipv4Prefix, NicConfig } from './custcfg';
import type { TargetRoot } from './rootfs';

export type NetBackend = 'networkmanager' | 'networkd' | 'ifcfg' | 'ifupdown';

/** What the target system uses, in order of precedence. */
export function detectBackend(t: TargetRoot): NetBackend | undefined {
  if (t.isExecutable('/usr/sbin/NetworkManager') && t.isDir('/etc/NetworkManager')) return 'networkmanager';
  if (t.lexists('/etc/systemd/system/multi-user.target.wants/systemd-networkd.service') && t.isDir('/etc/systemd/network')) return 'networkd';
  if (t.isDir('/etc/sysconfig/network-scripts')) return 'ifcfg';
  if (t.exists('/etc/network/interfaces')) return 'ifupdown';
  return undefined;
}

export interface NicBinding {
  nic: NicConfig;
  /** Kernel interface name matched by MAC, or a fallback eth<i>. */
  device: string;
}

export interface NetFile {
  path: string;
  content: string;
  mode: number;
}

const HEADER = 'Written by vmtoolsd-node guest customization (deployPkg)';
/** cust.cfg GATEWAY may list several: the first is the default route, the others back-up default routes with higher metrics. */
const EXTRA_GATEWAY_METRIC = 100;

function uuidFor(mac: string): string {
  const h = crypto.createHash('sha1').update(`vmtoolsd-node:${mac}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

const v4cidr = (n: NicConfig): string => `${n.address}/${ipv4Prefix(n.netmask!)}`;

export function networkManagerFiles(c: CustConfig, nics: NicBinding[]): NetFile[] {
  return nics.map(({ nic }, i) => {
    const id = `vmware-${nic.name}`;
    const L: string[] = [`# ${HEADER}`, '[connection]', `id=${id}`, `uuid=${uuidFor(nic.mac)}`, 'type=ethernet', `autoconnect=${nic.onboot}`];
    if (nic.primary || i === 0) L.push('autoconnect-priority=10');
    L.push('', '[ethernet]', `mac-address=${nic.mac.toUpperCase()}`, '', '[ipv4]');
    if (nic.ipv4 === 'dhcp') L.push('method=auto');
    else if (nic.ipv4 === 'static') {
      L.push('method=manual', `address1=${v4cidr(nic)}${nic.gateways[0] ? `,${nic.gateways[0]}` : ''}`);
      nic.gateways.slice(1).forEach((g, k) => L.push(`route${k + 1}=0.0.0.0/0,${g},${EXTRA_GATEWAY_METRIC + k}`));
    } else L.push('method=disabled');
    if (c.nameservers.some((s) => s.includes('.'))) L.push(`dns=${c.nameservers.filter((s) => s.includes('.')).join(';')};`);
    if (c.searchDomains.length) L.push(`dns-search=${c.searchDomains.join(';')};`);
    L.push('', '[ipv6]');
    if (nic.ipv6.length) {
      L.push('method=manual');
      nic.ipv6.forEach((a, k) => L.push(`address${k + 1}=${a.address}/${a.prefix}${k === 0 && nic.ipv6Gateways[0] ? `,${nic.ipv6Gateways[0]}` : ''}`));
      const v6dns = c.nameservers.filter((s) => s.includes(':'));
      if (v6dns.length) L.push(`dns=${v6dns.join(';')};`);
    } else L.push('method=auto');
    return { path: `/etc/NetworkManager/system-connections/${id}.nmconnection`, content: `${L.join('\n')}\n`, mode: 0o600 };
  });
}

/**
 * networkd applies the first matching .network file in lexical order across
 * /etc, /run and /usr/lib: 05 sorts before netplan's generated
 * 10-netplan-*.network (Ubuntu) and the distributions' 50-/80-/99- defaults.
 */
export const NETWORKD_PREFIX = '05';

export function networkdFiles(c: CustConfig, nics: NicBinding[]): NetFile[] {
  return nics.map(({ nic }) => {
    const L: string[] = [`# ${HEADER}`, '[Match]', `MACAddress=${nic.mac}`, '', '[Network]'];
    L.push(`DHCP=${nic.ipv4 === 'dhcp' ? 'ipv4' : 'no'}`);
    if (nic.ipv4 === 'static') L.push(`Address=${v4cidr(nic)}`, ...nic.gateways.slice(0, 1).map((g) => `Gateway=${g}`));
    for (const a of nic.ipv6) L.push(`Address=${a.address}/${a.prefix}`);
    for (const g of nic.ipv6Gateways) L.push(`Gateway=${g}`);
    if (nic.ipv6.length) L.push('IPv6AcceptRA=no');
    for (const d of c.nameservers) L.push(`DNS=${d}`);
    if (c.searchDomains.length) L.push(`Domains=${c.searchDomains.join(' ')}`);
    if (nic.ipv4 === 'static') nic.gateways.slice(1).forEach((g, k) => L.push('', '[Route]', `Gateway=${g}`, `Metric=${EXTRA_GATEWAY_METRIC + k}`));
    if (!nic.onboot) L.splice(2, 0, '', '[Link]', 'ActivationPolicy=manual');
    return { path: `/etc/systemd/network/${NETWORKD_PREFIX}-vmware-${nic.name}.network`, content: `${L.join('\n')}\n`, mode: 0o644 };
  });
}

export function ifcfgFiles(c: CustConfig, nics: NicBinding[]): NetFile[] {
  return nics.map(({ nic, device }) => {
    const L: string[] = [`# ${HEADER}`, `DEVICE=${device}`, `NAME=${device}`, `HWADDR=${nic.mac}`, 'TYPE=Ethernet', `ONBOOT=${nic.onboot ? 'yes' : 'no'}`];
    L.push(`BOOTPROTO=${nic.ipv4 === 'dhcp' ? 'dhcp' : 'none'}`);
    if (nic.ipv4 === 'static') {
      L.push(`IPADDR=${nic.address}`, `NETMASK=${nic.netmask}`);
      if (nic.gateways[0]) L.push(`GATEWAY=${nic.gateways[0]}`);
      if (nic.primary) L.push('DEFROUTE=yes');
    }
    if (nic.ipv6.length) {
      L.push('IPV6INIT=yes', 'IPV6_AUTOCONF=no', `IPV6ADDR=${nic.ipv6[0].address}/${nic.ipv6[0].prefix}`);
      if (nic.ipv6.length > 1) L.push(`IPV6ADDR_SECONDARIES="${nic.ipv6.slice(1).map((a) => `${a.address}/${a.prefix}`).join(' ')}"`);
      if (nic.ipv6Gateways[0]) L.push(`IPV6_DEFAULTGW=${nic.ipv6Gateways[0]}`);
    }
    c.nameservers.forEach((d, k) => L.push(`DNS${k + 1}=${d}`));
    if (c.searchDomains.length) L.push(`DOMAIN="${c.searchDomains.join(' ')}"`);
    const out: NetFile[] = [{ path: `/etc/sysconfig/network-scripts/ifcfg-${device}`, content: `${L.join('\n')}\n`, mode: 0o644 }];
    if (nic.ipv4 === 'static' && nic.gateways.length > 1) {
      const routes = nic.gateways.slice(1).map((g, k) => `default via ${g} dev ${device} metric ${EXTRA_GATEWAY_METRIC + k}`);
      out.push({ path: `/etc/sysconfig/network-scripts/route-${device}`, content: `# ${HEADER}\n${routes.join('\n')}\n`, mode: 0o644 });
    }
    return out;
  }).flat();
}

export function ifupdownFiles(c: CustConfig, nics: NicBinding[], existing: string | undefined): NetFile[] {
  const L: string[] = [`# ${HEADER}`];
  if (existing && /^\s*source\s+\/etc\/network\/interfaces\.d\/\*/m.test(existing)) L.push('source /etc/network/interfaces.d/*');
  L.push('', 'auto lo', 'iface lo inet loopback');
  nics.forEach(({ nic, device }, i) => {
    L.push('');
    if (nic.onboot) L.push(`auto ${device}`);
    if (nic.ipv4 === 'dhcp') L.push(`iface ${device} inet dhcp`);
    else if (nic.ipv4 === 'static') {
      L.push(`iface ${device} inet static`, `    address ${v4cidr(nic)}`);
      if (nic.gateways[0]) L.push(`    gateway ${nic.gateways[0]}`);
      nic.gateways.slice(1).forEach((g, k) => L.push(`    up ip route add default via ${g} dev ${device} metric ${EXTRA_GATEWAY_METRIC + k}`));
    } else L.push(`iface ${device} inet manual`);
    if (i === 0 || nic.primary) {
      if (c.nameservers.length) L.push(`    dns-nameservers ${c.nameservers.join(' ')}`);
      if (c.searchDomains.length) L.push(`    dns-search ${c.searchDomains.join(' ')}`);
    }
    nic.ipv6.forEach((a, k) => {
      L.push(`iface ${device} inet6 static`, `    address ${a.address}/${a.prefix}`);
      if (k === 0 && nic.ipv6Gateways[0]) L.push(`    gateway ${nic.ipv6Gateways[0]}`);
    });
  });
  return [{ path: '/etc/network/interfaces', content: `${L.join('\n')}\n`, mode: 0o644 }];
}

/** /etc/resolv.conf contents (written only where it is a plain file, not a resolver's symlink). */
export function resolvConf(c: CustConfig): string {
  const L = [`# ${HEADER}`];
  if (c.searchDomains.length) L.push(`search ${c.searchDomains.join(' ')}`);
  for (const d of c.nameservers.slice(0, 3)) L.push(`nameserver ${d}`);
  return `${L.join('\n')}\n`;
}
