#!/usr/bin/env node
// Entry point of the `dirigo` command: the compiled CLI (npm install builds it).
import('../dist/cli.js');
