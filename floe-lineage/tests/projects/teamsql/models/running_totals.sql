-- the partition and order keys choose the rows a sum runs over: INDIRECT WINDOW, not DIRECT
select
    order_id,
    sum(amount) over (partition by customer_id order by order_date, order_id) as running_amount,
    row_number() over (partition by customer_id order by order_date, order_id) as order_number
from {{ ref('orders') }}
