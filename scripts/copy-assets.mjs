// Copies what tsc does not: the dashboard's page (HTML, JS, CSS) beside the compiled server.
import { cpSync } from 'node:fs';

cpSync('src/dashboard/assets', 'dist/dashboard/assets', { recursive: true });
