// The "node": a Linux bridge in the host network namespace holding the gateway address, and
// one network namespace per pod joined to it by a veth. Pods get only the connected prefix
// (no default route), so nothing they send can leave the machine.
import { readdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { exitCleanup } from './exit-cleanup.js';
import { isAlive, sh } from './shell.js';

export const NETNS_PREFIX = 'rse2e-';
export const HOST_LINK_PREFIX = 'rsv';
/** Link alias recording which process owns a link, so a later run can tell leftovers from live ones. */
const OWNER_ALIAS = 'rse2e-owner=';

export interface NodeNetworkOptions {
  /** Bridge name (≤ 15 characters). */
  bridge: string;
  /** The node's address on the bridge, e.g. 198.18.20.1. */
  gateway: string;
  /** 16..30; pods are allocated from the gateway's prefix, from .10 up. */
  prefixLength: number;
}

export interface PodInterface {
  netns: string;
  hostLink: string;
  address: string;
}

export interface NodeNetwork {
  readonly bridge: string;
  readonly gateway: string;
  readonly prefixLength: number;
  allocateAddress(): string;
  releaseAddress(ip: string): void;
  /** Creates a netns (lo up) with eth0 = `address`/prefix, its host side on the bridge. */
  addPodInterface(address: string): Promise<PodInterface>;
  /** Deletes the netns (which deletes the veth pair with it). */
  removePodInterface(netns: string): Promise<void>;
  /** Names of netns and host links this network created that still exist. */
  owned(): { netns: string[]; links: string[] };
  /** Deletes every pod interface and the bridge. Idempotent. */
  destroy(): Promise<void>;
}

function toInt(ip: string): number {
  const parts = ip.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) throw new Error(`not an IPv4 address: ${ip}`);
  return ((parts[0]! << 24) | (parts[1]! << 16) | (parts[2]! << 8) | parts[3]!) >>> 0;
}

function toIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

interface LinkInfo {
  name: string;
  alias?: string;
}

async function listLinks(): Promise<LinkInfo[]> {
  const out = await sh('ip', ['-j', '-d', 'link', 'show'], { allowFailure: true });
  if (out.code !== 0) return [];
  const links = JSON.parse(out.stdout) as { ifname: string; ifalias?: string }[];
  return links.map((l) => ({ name: l.ifname, ...(l.ifalias ? { alias: l.ifalias } : {}) }));
}

function ownerOf(alias: string | undefined): number | undefined {
  if (!alias?.startsWith(OWNER_ALIAS)) return undefined;
  const pid = Number(alias.slice(OWNER_ALIAS.length));
  return Number.isInteger(pid) ? pid : undefined;
}

/** Removes netns, veths and bridges of runner processes that died without cleaning up. */
export async function removeAbandoned(bridge?: string): Promise<string[]> {
  const removed: string[] = [];
  let names: string[] = [];
  try {
    names = readdirSync('/run/netns');
  } catch {
    names = [];
  }
  for (const name of names) {
    const m = /^rse2e-(\d+)-/.exec(name);
    if (!m || isAlive(Number(m[1]))) continue;
    // processes a killed runner left inside keep nothing alive, but they would linger
    const pids = await sh('ip', ['netns', 'pids', name], { allowFailure: true });
    for (const pid of pids.stdout.split(/\s+/).filter(Boolean)) {
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {
        // already gone
      }
    }
    await sh('ip', ['netns', 'del', name], { allowFailure: true });
    removed.push(`netns ${name}`);
  }
  for (const link of await listLinks()) {
    const owner = ownerOf(link.alias);
    const ours = link.name.startsWith(HOST_LINK_PREFIX) || link.name === bridge;
    if (!ours || owner === undefined || isAlive(owner)) continue;
    await sh('ip', ['link', 'del', link.name], { allowFailure: true });
    removed.push(`link ${link.name}`);
  }
  return removed;
}

async function readSysctl(path: string): Promise<string | undefined> {
  return (await readFile(path, 'utf8').catch(() => undefined))?.trim();
}

export async function createNodeNetwork(options: NodeNetworkOptions): Promise<NodeNetwork> {
  if (process.getuid?.() !== 0) throw new Error('the pod runner creates bridges and network namespaces: run it as root');
  const { bridge, gateway, prefixLength } = options;
  if (bridge.length > 15) throw new Error(`bridge name ${bridge} is longer than 15 characters`);
  if (!(prefixLength >= 16 && prefixLength <= 30)) throw new Error(`prefixLength ${prefixLength} must be within 16..30`);
  const gatewayInt = toInt(gateway);
  const mask = prefixLength === 0 ? 0 : (~0 << (32 - prefixLength)) >>> 0;
  const network = (gatewayInt & mask) >>> 0;
  const broadcast = (network | (~mask >>> 0)) >>> 0;

  await removeAbandoned(bridge);
  const existing = (await listLinks()).find((l) => l.name === bridge);
  if (existing) {
    throw new Error(`bridge ${bridge} already exists (${existing.alias ?? 'not created by the pod runner'}): another runner is using it, or it is not ours to delete`);
  }

  const alias = `${OWNER_ALIAS}${process.pid}`;
  const netnsOwned = new Set<string>();
  const linksOwned = new Map<string, string>(); // netns → host link
  const used = new Set<number>();
  let nextIndex = 0;
  let iptablesRule: string[] | undefined;

  await sh('ip', ['link', 'add', bridge, 'type', 'bridge']);
  exitCleanup.addLink(bridge);
  try {
    await sh('ip', ['link', 'set', bridge, 'alias', alias]);
    await sh('ip', ['addr', 'add', `${gateway}/${prefixLength}`, 'dev', bridge]);
    await sh('ip', ['link', 'set', bridge, 'up']);
    // With br_netfilter loaded, frames between two ports of a bridge traverse iptables FORWARD.
    // If that chain would drop them, accept exactly this bridge's port-to-port traffic (a rule,
    // not a policy change; removed by destroy()).
    if ((await readSysctl('/proc/sys/net/bridge/bridge-nf-call-iptables')) === '1') {
      const forward = await sh('iptables', ['-S', 'FORWARD'], { allowFailure: true });
      if (forward.code === 0 && !forward.stdout.includes('-P FORWARD ACCEPT')) {
        iptablesRule = ['FORWARD', '-i', bridge, '-o', bridge, '-m', 'comment', '--comment', alias, '-j', 'ACCEPT'];
        await sh('iptables', ['-I', ...iptablesRule]);
      }
    }
  } catch (err) {
    await sh('ip', ['link', 'del', bridge], { allowFailure: true });
    exitCleanup.removeLink(bridge);
    throw err;
  }

  let destroyed = false;
  const self: NodeNetwork = {
    bridge,
    gateway,
    prefixLength,
    allocateAddress() {
      for (let n = network + 10; n < broadcast; n++) {
        if (n === gatewayInt || used.has(n)) continue;
        used.add(n);
        return toIp(n);
      }
      throw new Error(`no free address left in ${toIp(network)}/${prefixLength}`);
    },
    releaseAddress(ip) {
      used.delete(toInt(ip));
    },
    async addPodInterface(address) {
      if (destroyed) throw new Error('the node network was destroyed');
      const names = new Set((await listLinks()).map((l) => l.name));
      let index = nextIndex++;
      while (names.has(`${HOST_LINK_PREFIX}${index}`)) index = nextIndex++;
      const hostLink = `${HOST_LINK_PREFIX}${index}`;
      const netns = `${NETNS_PREFIX}${process.pid}-${index}`;
      await sh('ip', ['netns', 'add', netns]);
      netnsOwned.add(netns);
      exitCleanup.addNetns(netns);
      try {
        await sh('ip', ['-n', netns, 'link', 'set', 'lo', 'up']);
        await sh('ip', ['link', 'add', hostLink, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', netns]);
        linksOwned.set(netns, hostLink);
        await sh('ip', ['link', 'set', hostLink, 'alias', alias]);
        await sh('ip', ['link', 'set', hostLink, 'master', bridge]);
        await sh('ip', ['link', 'set', hostLink, 'up']);
        await sh('ip', ['-n', netns, 'addr', 'add', `${address}/${prefixLength}`, 'dev', 'eth0']);
        await sh('ip', ['-n', netns, 'link', 'set', 'eth0', 'up']);
      } catch (err) {
        await self.removePodInterface(netns);
        throw err;
      }
      return { netns, hostLink, address };
    },
    async removePodInterface(netns) {
      await sh('ip', ['netns', 'del', netns], { allowFailure: true });
      netnsOwned.delete(netns);
      exitCleanup.removeNetns(netns);
      const link = linksOwned.get(netns);
      linksOwned.delete(netns);
      // the veth pair dies with the netns; this only matters if creation failed half-way
      if (link) await sh('ip', ['link', 'del', link], { allowFailure: true });
    },
    owned() {
      return { netns: [...netnsOwned], links: [...linksOwned.values()] };
    },
    async destroy() {
      if (destroyed) return;
      destroyed = true;
      for (const netns of [...netnsOwned]) await self.removePodInterface(netns);
      if (iptablesRule) await sh('iptables', ['-D', ...iptablesRule], { allowFailure: true });
      await sh('ip', ['link', 'del', bridge], { allowFailure: true });
      exitCleanup.removeLink(bridge);
    },
  };
  return self;
}
