// nginx's worker user as the controller resolves it in the e2e pod (root master, workers as
// nobody): the ingress tests run nginx the same way.
import { readFileSync } from 'node:fs';
import { resolveWorkerUser } from '../../apps/ingress-nginx/worker-user.js';

export function testWorkerUser(): ReturnType<typeof resolveWorkerUser> {
  return resolveWorkerUser({
    uid: process.getuid!(),
    gid: process.getgid!(),
    user: 'nobody',
    group: 'nogroup',
    meshProxyUid: 1337,
    passwd: readFileSync('/etc/passwd', 'utf8'),
    groups: readFileSync('/etc/group', 'utf8'),
  });
}
