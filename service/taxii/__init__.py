"""The TAXII 2.1 read view: advisories as STIX 2.1 objects (``stix``) served in collections."""
