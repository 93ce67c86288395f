"""A database whose application works through its own functions: an orders table and a plpgsql function
reading it by its parameter `c` (shared by the advisor's and the query report's tests)."""

ORDERS_AND_CUSTOMER_TOTAL_SQL = """
CREATE TABLE orders (id bigserial PRIMARY KEY, customer_id int NOT NULL, status text NOT NULL, total numeric);
INSERT INTO orders (customer_id, status, total)
SELECT g % 5000, (ARRAY['new', 'paid', 'shipped'])[g % 3 + 1], g % 100 FROM generate_series(1, 200000) AS g;
ANALYZE orders;
CREATE FUNCTION customer_total(c int) RETURNS numeric LANGUAGE plpgsql STABLE AS $$
DECLARE t numeric;
BEGIN
  SELECT sum(total) INTO t FROM orders WHERE customer_id = c AND status = 'paid';
  RETURN t;
END $$;
"""
