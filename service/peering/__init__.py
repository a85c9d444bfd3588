"""Federation as this node runs it: peers, sharing groups, the feed, applying what arrives."""
