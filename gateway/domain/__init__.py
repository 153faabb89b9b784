"""The pure core: letters, their events and statuses, requests and who may see what.

Nothing here imports Kafka, SQL or XML; everything is plain data and functions.
"""
