// Which user nginx's workers run as. They make the connections to the backends, and the
// mesh's iptables rules exclude the proxy's UID (1337) from capture: a worker with that UID
// would reach the backends around the sidecar, in plaintext. So that UID is refused.

export interface WorkerUserInput {
  /** The UID (and GID) nginx starts with: this process's. */
  uid: number;
  gid: number;
  /** The `user`/`group` directive wanted when starting as root. */
  user: string;
  group: string;
  meshProxyUid: number;
  /** Contents of /etc/passwd and /etc/group. */
  passwd: string;
  groups: string;
}

/** The `user` directive for the config, or undefined when nginx does not start as root. Throws when traffic would bypass the mesh. */
export function resolveWorkerUser(input: WorkerUserInput): { user: string; group: string } | undefined {
  const proxy = input.meshProxyUid;
  if (input.uid === proxy || input.gid === proxy) {
    throw new Error(
      `the ingress controller runs as UID/GID ${input.uid}/${input.gid}, and ${proxy} is the mesh proxy's: ` +
        `iptables does not capture that user's traffic, so nginx would reach the backends around the sidecar; ` +
        `run it as another user`,
    );
  }
  if (input.uid !== 0) return undefined; // nginx cannot switch users; its workers keep ours (checked above)
  const uid = lookupId(input.passwd, input.user);
  if (uid === undefined) throw new Error(`NGINX_USER ${input.user} does not exist in /etc/passwd`);
  const gid = lookupId(input.groups, input.group);
  if (gid === undefined) throw new Error(`NGINX_GROUP ${input.group} does not exist in /etc/group`);
  if (uid === proxy || gid === proxy) {
    throw new Error(
      `NGINX_USER ${input.user}:${input.group} has UID/GID ${uid}/${gid}, and ${proxy} is the mesh proxy's: ` +
        `iptables does not capture that user's traffic, so nginx's workers would reach the backends around the sidecar; ` +
        `choose another user`,
    );
  }
  return { user: input.user, group: input.group };
}

/** The numeric id of a name in /etc/passwd or /etc/group format (`name:x:id:...`). */
function lookupId(table: string, name: string): number | undefined {
  for (const line of table.split('\n')) {
    const fields = line.split(':');
    if (fields[0] === name && fields[2] !== undefined && /^\d+$/.test(fields[2])) return Number(fields[2]);
  }
  return undefined;
}
