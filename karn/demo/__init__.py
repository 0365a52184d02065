"""A labelled demo data set, so a newcomer sees every page of Karn populated.

Everything here is invented: the customers, their answers and the call notes
were written for the demo, and every demo customer carries ``{"demo": "yes"}``
in its extra attributes. Answers go through Karn's own submission path
(``responses.submit_invitation``) with the clock set to the moment of
answering, so the tags, shown reasons and call tasks are what Karn itself
would have made.
"""
