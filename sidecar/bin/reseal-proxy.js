#!/usr/bin/env node
// Runs the TypeScript entry point through tsx (development, tests). Images run the bundle
// instead, dist/reseal-proxy.mjs (build-dist.mjs; see the Dockerfile's reseal-proxy).
import { register } from 'tsx/esm/api';

register();
await import('../src/main.ts');
