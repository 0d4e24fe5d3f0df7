"""How tiss serve (model/server.py) hands the engine's events to the event
loop: all of them, in order, with one wake-up for everything posted meanwhile."""

import asyncio
import threading

from model.server import _Mailbox


def test_events_posted_while_the_loop_is_busy_arrive_in_order_in_one_delivery():
    async def scenario():
        loop = asyncio.get_running_loop()
        box = _Mailbox.of(loop)
        assert _Mailbox.of(loop) is box  # one per loop
        deliveries = []
        deliver = box._deliver
        box._deliver = lambda: (deliveries.append(len(box.posted)), deliver())
        queues = [asyncio.Queue(), asyncio.Queue()]

        def engine():  # another thread, as the engine's is
            for i in range(500):
                box.post(queues[i % 2], i)

        thread = threading.Thread(target=engine)
        thread.start()
        thread.join()  # the loop was not free to take anything meanwhile
        got = [[await q.get() for _ in range(250)] for q in queues]
        assert got == [list(range(0, 500, 2)), list(range(1, 500, 2))]
        assert deliveries == [500]
        box.post(queues[0], "later")  # and the next post wakes the loop again
        assert await asyncio.wait_for(queues[0].get(), 10) == "later"
        assert deliveries == [500, 1]

    asyncio.run(scenario())
