"""Promotions' services. Import order (bottom first): identities, peers, routes, bundles,
inbox, importing, receipts, transfer."""
