#!/usr/bin/env node
// Runs the TypeScript entry point through tsx, like the other components' bins.
import { register } from 'tsx/esm/api';

register();
await import('../src/main.ts');
