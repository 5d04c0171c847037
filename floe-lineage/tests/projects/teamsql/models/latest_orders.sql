{{ config(enabled=target.type == 'duckdb') }}
select customer_id, order_id, amount
from {{ ref('orders') }}
qualify row_number() over (partition by customer_id order by order_date desc) = 1
