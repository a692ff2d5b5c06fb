"""The floor every layer stands on: atomic writes and verified reads (`io`), and the
provenance of a file (`provenance`: checksums, lineage). Neither imports the rest of the
package, nor torch at import time."""
