#!/usr/bin/env node
// Runs the TypeScript entry point through tsx; images ship the same source.
import { register } from 'tsx/esm/api';

register();
await import('../src/main.ts');
