-- Replay: forget where the drain stood, so the next drain starts from the topic's beginning.
DELETE FROM crypto_prices_consumer_offsets
WHERE consumer_group = %(consumer_group)s AND topic = %(topic)s
