#!/usr/bin/env node
// Runs the TypeScript entry point through tsx; the package ships its source.
import { register } from 'tsx/esm/api';

register();
await import('../src/main.ts');
