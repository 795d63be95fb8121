"""Local servers that stand in for hosted services, speaking their real wire format.

Used only for what the real component cannot show here (outages, rate
limits, chosen answers); each is named for what it stands in for.
"""
