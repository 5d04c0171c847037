{{ config(enabled=target.type == 'duckdb') }}
-- DuckDB's PIVOT: not traced, warned about
pivot {{ ref('orders') }} on status in ('paid', 'void') using sum(amount) group by customer_id
