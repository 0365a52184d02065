"""Two keep-call plannings of the same customers at the same moment: each
customer is drawn once, on SQLite (a file database, no row locks) as on
PostgreSQL."""

import threading
from decimal import Decimal

import sqlalchemy as sa

from karn.customers.models import Customer
from karn.enums import CustomerStatus, ExperimentKind
from karn.experiments import operations
from karn.experiments.models import Assignment, Experiment


def test_simultaneous_plannings_draw_each_customer_once(app, db, monkeypatch):
    people = [
        Customer(
            external_id=f"R{i:03d}",
            email=f"race{i}@example.com",
            name=f"Race {i}",
            status=CustomerStatus.ACTIVE,
            source="manual",
            language="nl",
            phone=f"06{i:08d}",
            monthly_revenue=Decimal("100"),
        )
        for i in range(20)
    ]
    db.session.add_all(people)
    db.session.commit()
    ids = [p.id for p in people]
    db.session.remove()

    first_read = threading.Event()
    second_read = threading.Event()
    real = operations.open_groups

    def open_groups(customer_ids, kind):
        # The first planning reads who is drawn already, then waits for the
        # second to read too: the moment two plannings would both find
        # nobody drawn. With the lock the second cannot read before the
        # first has committed, and the first goes on after a while.
        found = real(customer_ids, kind)
        if threading.current_thread().name == "first":
            first_read.set()
            second_read.wait(timeout=3)
        else:
            second_read.set()
        return found

    monkeypatch.setattr(operations, "open_groups", open_groups)
    results, errors = {}, []

    def planning():
        try:
            with app.app_context():
                customers = db.session.scalars(
                    sa.select(Customer).where(Customer.id.in_(ids))
                ).all()
                experiment, already = operations.start(
                    ExperimentKind.KEEP_CALL,
                    customers,
                    None,
                    share=0.8,
                    horizon_days=90,
                )
                db.session.commit()
                results[threading.current_thread().name] = (
                    experiment is not None,
                    len(already),
                )
                db.session.remove()
        except Exception as error:  # reported below, in the test's thread
            errors.append(error)
            first_read.set()
            second_read.set()

    first = threading.Thread(target=planning, name="first")
    second = threading.Thread(target=planning, name="second")
    first.start()
    first_read.wait(timeout=30)
    second.start()
    first.join(timeout=60)
    second.join(timeout=60)

    assert not errors, errors
    # Every customer is in exactly one experiment; the later planning made
    # none and says all twenty were drawn already.
    counts = db.session.execute(
        sa.select(Assignment.customer_id, sa.func.count()).group_by(
            Assignment.customer_id
        )
    ).all()
    assert sorted(n for _id, n in counts) == [1] * 20
    assert db.session.scalar(sa.select(sa.func.count(Experiment.id))) == 1
    assert sorted(results.values()) == [(False, 20), (True, 0)]
