// Atomic file writes live in output.ts (exclusive random temp names, registry, readable errors); this
// module keeps the old import path working.
export { writeFileAtomic } from './output.js';
