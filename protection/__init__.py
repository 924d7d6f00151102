"""Data protection: the keyring, the Temporal payload codecs (encryption, claim check) and
the codec server's helpers. Imported by workers, clients and the store, never by workflows."""
